# client/ -- libzpclient, installed with its header and pkg-config file.
lib_LTLIBRARIES += client/libzpclient.la
include_HEADERS += include/zpclient.h
pkgconfig_DATA = client/zpclient.pc
client_libzpclient_la_SOURCES = client/zpclient.c
client_libzpclient_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUFC_CFLAGS)
client_libzpclient_la_LIBADD = common/libzpcommon.la $(PTHREAD_LIBS)
# Only the API of include/zpclient.h; wire_* and codec_* stay private.
client_libzpclient_la_LDFLAGS = -version-info 0:0:0 \
	-export-symbols-regex '^zp_'
