# common/ -- the small internal library shared by daemon, client and tools.
noinst_LTLIBRARIES += common/libzpcommon.la
common_libzpcommon_la_SOURCES = \
	common/codec.c common/codec.h \
	common/page.h \
	common/size.c common/size.h \
	common/wire.c common/wire.h
nodist_common_libzpcommon_la_SOURCES = proto/zpool.pb-c.c proto/zpool.pb-c.h
common_libzpcommon_la_CFLAGS = $(AM_CFLAGS) $(LZ4_CFLAGS) $(ZSTD_CFLAGS) \
	$(PROTOBUFC_CFLAGS)
common_libzpcommon_la_LIBADD = $(LZ4_LIBS) $(ZSTD_LIBS) $(PROTOBUFC_LIBS) -lm
