# docs/ -- manual pages of the daemon, its configuration file and the
# library.  (Each tool's page is listed with the tool.)
dist_man_MANS += docs/zpoold.8 docs/zpoold.conf.5 docs/libzpclient.3

# The documents go to $(docdir) as they are, with the README; add each new
# docs/*.md here (tests/test_install.sh checks that all are installed).
dist_doc_DATA += README.md docs/design.md
dist_doc_DATA += docs/protocol.md
dist_doc_DATA += docs/performance.md
