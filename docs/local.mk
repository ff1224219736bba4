# docs/ -- manual pages of the daemon, its configuration file and the
# library.  (Each tool's page is listed with the tool.)
dist_man_MANS += docs/libzpclient.3

# zpoold(8) and zpoold.conf(5) are made from their .in here, as the service
# unit is, so that they name the configuration file this build reads:
# $(sysconfdir), /usr/local/etc by default, /etc in Debian's packages.
nodist_man_MANS += docs/zpoold.8 docs/zpoold.conf.5
EXTRA_DIST += docs/zpoold.8.in docs/zpoold.conf.5.in
CLEANFILES += docs/zpoold.8 docs/zpoold.conf.5

docs/zpoold.8: $(srcdir)/docs/zpoold.8.in Makefile
	$(AM_V_GEN)$(MKDIR_P) docs && \
	sed -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    $(srcdir)/docs/zpoold.8.in >$@.tmp && mv $@.tmp $@
docs/zpoold.conf.5: $(srcdir)/docs/zpoold.conf.5.in Makefile
	$(AM_V_GEN)$(MKDIR_P) docs && \
	sed -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    $(srcdir)/docs/zpoold.conf.5.in >$@.tmp && mv $@.tmp $@

# The documents go to $(docdir) as they are, with the README; add each new
# docs/*.md here (tests/test_install.sh checks that all are installed).
dist_doc_DATA += README.md docs/design.md
dist_doc_DATA += docs/protocol.md
dist_doc_DATA += docs/performance.md
