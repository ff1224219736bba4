# proto/ -- the wire protocol, compiled with protoc-c at build time.
EXTRA_DIST += proto/zpool.proto
BUILT_SOURCES += proto/zpool.pb-c.h
CLEANFILES += proto/zpool.pb-c.c proto/zpool.pb-c.h

proto/zpool.pb-c.c proto/zpool.pb-c.h: $(top_srcdir)/proto/zpool.proto
	$(AM_V_GEN)$(MKDIR_P) proto && \
	$(PROTOC_C) --proto_path=$(top_srcdir)/proto --c_out=proto \
		$(top_srcdir)/proto/zpool.proto
