package stamp.rules.empty_password

metadata := {
	"code": "PCI-2.2.2-EMPTY-PASSWORD",
	"title": "No account has an empty password",
	"severity": "critical",
	"pci": ["2.2.2", "8.3.1"],
	"remediation": "Lock the account (`passwd -l NAME`, or `*` in /etc/shadow) or remove it; never ship an empty password field.",
}

not_applicable := "no /etc/passwd" if not input.accounts.present

failures contains sprintf("%s (uid %d): empty password field", [user.name, user.uid]) if {
	some user in input.accounts.users
	user.password == "empty"
}
