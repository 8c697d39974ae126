package stamp.rules.system_accounts

metadata := {
	"code": "PCI-2.2.2-SYSTEM-ACCOUNT-LOGIN",
	"title": "System accounts are locked and have no login shell",
	"severity": "high",
	"pci": ["2.2.2", "8.2.2"],
	"remediation": "Set the shell of system accounts to /usr/sbin/nologin (`usermod -s /usr/sbin/nologin NAME`) and lock their password (`passwd -l NAME`).",
}

not_applicable := "no /etc/passwd" if not input.accounts.present

uid_min := to_number(object.get(input.login_defs.settings, "UID_MIN", "1000"))

system(user) if {
	user.uid > 0
	user.uid < uid_min
}

system(user) if user.uid == 65534

failures contains sprintf("%s (uid %d): login shell %s", [user.name, user.uid, user.shell]) if {
	some user in input.accounts.users
	system(user)
	user.login_shell
}

failures contains sprintf("%s (uid %d): password %s", [user.name, user.uid, user.password]) if {
	some user in input.accounts.users
	system(user)
	user.password in {"usable", "empty"}
}
