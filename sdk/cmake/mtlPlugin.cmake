# mtl_add_plugin(<name> SOURCES <files...> [LIBRARIES <libs...>])
#
# The installed SDK's variant of the in-tree function (cmake/mtl_plugin.cmake
# of the mtl sources): builds <name>.so, a method or a task plugin, against
# mtl::mtl, into the caller's current build folder, with no "lib" prefix and
# hidden visibility so that only the entry symbol marked MTL_EXPORT is
# exported.  `cmake --install` puts it in <prefix>/lib/mtl/plugins, where an
# mtlhost installed in the same prefix finds it.
include(GNUInstallDirs)

function(mtl_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "mtl_add_plugin(${name}): no SOURCES given")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE mtl::mtl ${ARG_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${name}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/mtl/plugins)
endfunction()
