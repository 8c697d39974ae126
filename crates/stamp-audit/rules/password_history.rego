package stamp.rules.password_history

metadata := {
	"code": "PCI-8.3.7-PASSWORD-HISTORY",
	"title": "New passwords differ from the last 4",
	"severity": "medium",
	"pci": ["8.3.7"],
	"remediation": "Add `password required pam_pwhistory.so remember=4 use_authtok` (or more) before pam_unix in /etc/pam.d/common-password.",
}

not_applicable := "no PAM configuration" if not input.pam.present

failures contains "no password history (pam_pwhistory or pam_unix remember)" if {
	input.pam.password_history == null
}

failures contains sprintf("remember = %d (fewer than 4)", [n]) if {
	n := input.pam.password_history
	n != null
	n < 4
}
