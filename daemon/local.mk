# daemon/ -- zpoold.  Everything but main() is in libzpdaemon, which the
# benchmark and the unit tests link too.
noinst_LTLIBRARIES += daemon/libzpdaemon.la
daemon_libzpdaemon_la_SOURCES = \
	daemon/pool.c daemon/pool.h \
	daemon/dedup.c daemon/dedup.h \
	daemon/budget.c daemon/budget.h \
	daemon/settings.c daemon/settings.h \
	daemon/config.c daemon/config.h \
	daemon/daemon.h \
	daemon/conn.c daemon/handle.c daemon/handle.h \
	daemon/log.c daemon/log.h daemon/rpc.c daemon/server.c \
	daemon/store.c daemon/worker.c daemon/xmalloc.c daemon/xmalloc.h
daemon_libzpdaemon_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(XXHASH_CFLAGS) $(PROTOBUFC_CFLAGS)
daemon_libzpdaemon_la_LIBADD = common/libzpcommon.la common/libzpcodec.la $(LIBEVENT_LIBS) \
	$(XXHASH_LIBS) $(PTHREAD_LIBS)

sbin_PROGRAMS += daemon/zpoold
daemon_zpoold_SOURCES = daemon/zpoold.c
daemon_zpoold_CFLAGS = $(daemon_libzpdaemon_la_CFLAGS)
daemon_zpoold_LDADD = daemon/libzpdaemon.la
# sd_notify(3) is called from server.c, so the library carries libsystemd.
if HAVE_LIBSYSTEMD
daemon_libzpdaemon_la_CFLAGS += $(SYSTEMD_CFLAGS)
daemon_libzpdaemon_la_LIBADD += $(SYSTEMD_LIBS)
endif
