# mtl_add_plugin(<name> SOURCES <files...> [LIBRARIES <libs...>])
#
# Builds plugins/<name>.so (a method or a task plugin) against the SDK: no
# "lib" prefix, hidden visibility so that only the entry symbol is exported,
# and installed into lib/mtl/plugins.  The installed SDK's package config
# provides the same function to out-of-tree plugin authors.
function(mtl_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE mtl ${ARG_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${name}
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${MTL_PLUGIN_OUTPUT_DIR})
  install(TARGETS ${name} LIBRARY DESTINATION ${MTL_INSTALL_PLUGINDIR})
endfunction()
