# owns_probe.py - run with LD_PRELOAD=<library>: is the library in this
# process, and is the malloc() found through the global scope its own?
# Prints "mapped" or "unmapped" (is argv[1], the library's real path, in
# /proc/self/maps), then "owns" and buddyslab_owns() of a block of 100
# bytes and one of 100000 from that malloc: "mapped owns 1 1" when all is
# well. Used by run_programs.sh and python_regrtest.sh.
import ctypes
import sys

maps = open("/proc/self/maps").read()
g = ctypes.CDLL(None)
owns = g.buddyslab_owns
owns.argtypes = [ctypes.c_void_p]
owns.restype = ctypes.c_int
g.malloc.argtypes = [ctypes.c_size_t]
g.malloc.restype = ctypes.c_void_p
g.free.argtypes = [ctypes.c_void_p]
g.free.restype = None
p = g.malloc(100)
q = g.malloc(100000)
print("mapped" if sys.argv[1] in maps else "unmapped", "owns", owns(p), owns(q))
g.free(p)
g.free(q)
