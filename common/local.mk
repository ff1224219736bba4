# common/ -- the small internal libraries shared by daemon, client and
# tools: libzpcommon (framing, sizes) goes everywhere, the client library
# included; libzpcodec (the compressors) only where pages are compressed.
noinst_LTLIBRARIES += common/libzpcommon.la common/libzpcodec.la
common_libzpcommon_la_SOURCES = \
	common/page.h \
	common/size.c common/size.h \
	common/spin.c common/spin.h \
	common/wire.c common/wire.h
nodist_common_libzpcommon_la_SOURCES = proto/zpool.pb-c.c proto/zpool.pb-c.h
common_libzpcommon_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUFC_CFLAGS)
common_libzpcommon_la_LIBADD = $(PROTOBUFC_LIBS) -lm

common_libzpcodec_la_SOURCES = common/codec.c common/codec.h
common_libzpcodec_la_CFLAGS = $(AM_CFLAGS) $(LZ4_CFLAGS) $(ZSTD_CFLAGS)
common_libzpcodec_la_LIBADD = $(LZ4_LIBS) $(ZSTD_LIBS)
