# daemon/ -- zpoold.  Everything but main() is in libzpdaemon, which the
# benchmark and the unit tests link too.
noinst_LTLIBRARIES += daemon/libzpdaemon.la
daemon_libzpdaemon_la_SOURCES = \
	daemon/pool.c daemon/pool.h \
	daemon/dedup.c daemon/dedup.h \
	daemon/budget.c daemon/budget.h \
	daemon/settings.h
daemon_libzpdaemon_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(XXHASH_CFLAGS) $(PROTOBUFC_CFLAGS)
daemon_libzpdaemon_la_LIBADD = common/libzpcommon.la $(LIBEVENT_LIBS) \
	$(XXHASH_LIBS) $(PTHREAD_LIBS)
