"""Stand-in figure tool of tests/host: records that the host ran it, and with what."""
import sys

with open(sys.argv[1] + "/figure.txt", "w") as f:
    f.write("drawn for " + sys.argv[1] + "\n")
