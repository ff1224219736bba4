# systemd/ -- zpoold.socket as is, and zpoold.service made from
# zpoold.service.in here rather than by configure, so that it names the
# sbindir of `make prefix=...` and the Type= that this build of zpoold
# supports: notify with libsystemd (sd_notify), simple without.
dist_systemdsystemunit_DATA = systemd/zpoold.socket
nodist_systemdsystemunit_DATA = systemd/zpoold.service
EXTRA_DIST += systemd/zpoold.service.in
CLEANFILES += systemd/zpoold.service

if HAVE_LIBSYSTEMD
ZP_SERVICE_TYPE = notify
else
ZP_SERVICE_TYPE = simple
endif

systemd/zpoold.service: $(srcdir)/systemd/zpoold.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' \
	    -e 's|@SERVICE_TYPE[@]|$(ZP_SERVICE_TYPE)|g' \
	    $(srcdir)/systemd/zpoold.service.in >$@.tmp && \
	if grep '@[A-Za-z_]*@' $@.tmp; then \
		echo "$@: unsubstituted variable" >&2; rm -f $@.tmp; exit 1; \
	fi && \
	mv $@.tmp $@
