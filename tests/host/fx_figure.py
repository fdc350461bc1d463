"""Stand-in figure tool of tests/host: records that the host ran it, and with what."""
import sys

with open(sys.argv[1] + "/figure.txt", "w") as f:
    f.write("drawn for " + sys.argv[1] + "\n")
# The host checks that a figure tool wrote a new .png.
with open(sys.argv[1] + "/figure.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n")
