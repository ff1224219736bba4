# etc/ -- zpoold.conf, installed as $(sysconfdir)/zpoold/zpoold.conf.  Its
# parser, daemon/config.c, is built with the daemon.
zpooldconfdir = $(sysconfdir)/zpoold
dist_zpooldconf_DATA = etc/zpoold.conf
