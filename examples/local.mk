# examples/ -- programs that use libzpclient as an application would.
# They are installed as documentation and deliberately not built here,
# against the build tree: tests/test_install.sh builds them with their own
# Makefile against a `make install`.
exampledir = $(docdir)/examples
dist_example_DATA = examples/kvcache.c examples/Makefile

# The demo (scripts/demo.sh) runs kvcache against the build tree; built only
# on request, as `make examples/kvcache`.
EXTRA_PROGRAMS = examples/kvcache
examples_kvcache_LDADD = client/libzpclient.la
CLEANFILES += examples/kvcache
