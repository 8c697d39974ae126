package stamp.rules.insecure_services

metadata := {
	"code": "PCI-2.2.4-INSECURE-SERVICE",
	"title": "No insecure service installed (telnet, rsh/rlogin, FTP, TFTP, xinetd, SNMP v1/v2)",
	"severity": "high",
	"pci": ["2.2.4", "2.2.5", "2.2.7"],
	"remediation": "Remove the package and its files (`apt-get purge PACKAGE`); use SSH/SFTP instead. Where a business need exists, record it as an approved exception (`stamp except CODE`).",
}

packages := {
	"telnetd", "inetutils-telnetd", "telnetd-ssl", "telnet-server", "krb5-telnetd",
	"rsh-server", "rsh-redone-server", "krb5-rsh-server", "rsh",
	"vsftpd", "proftpd", "proftpd-basic", "proftpd-core", "pure-ftpd", "ftpd",
	"inetutils-ftpd", "tnftpd", "wu-ftpd", "ftpd-ssl",
	"tftpd", "tftpd-hpa", "atftpd", "tftp-server", "dnsmasq-tftp",
	"xinetd", "openbsd-inetd", "inetutils-inetd", "rlinetd",
	"snmpd", "net-snmp", "talkd", "inetutils-talkd", "nis", "ypserv",
}

binaries := {
	"in.telnetd", "telnetd", "in.rshd", "rshd", "in.rlogind", "rlogind", "in.rexecd",
	"rexecd", "vsftpd", "proftpd", "pure-ftpd", "in.ftpd", "ftpd", "in.tftpd", "tftpd",
	"atftpd", "xinetd", "inetd", "snmpd", "in.talkd", "in.ntalkd", "ypserv",
}

units := {
	"telnet.socket", "rsh.socket", "rlogin.socket", "rexec.socket", "tftp.socket",
	"tftpd-hpa.service", "vsftpd.service", "proftpd.service", "pure-ftpd.service",
	"xinetd.service", "inetd.service", "openbsd-inetd.service", "snmpd.service",
}

not_applicable := "no package database and no executables in system directories" if {
	count(input.packages.installed) == 0
	count(input.filesystem.executables) == 0
}

failures contains sprintf("package %s %s", [pkg.name, pkg.version]) if {
	some pkg in input.packages.installed
	pkg.name in packages
}

failures contains sprintf("file %s", [path]) if {
	some path in input.filesystem.executables
	parts := split(path, "/")
	parts[count(parts) - 1] in binaries
}

failures contains sprintf("enabled unit %s", [unit]) if {
	some unit in input.systemd.enabled_units
	unit in units
}
