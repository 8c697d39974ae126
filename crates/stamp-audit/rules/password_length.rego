package stamp.rules.password_length

metadata := {
	"code": "PCI-8.3.6-PASSWORD-LENGTH",
	"title": "Passwords have at least 12 characters",
	"severity": "medium",
	"pci": ["8.3.6"],
	"remediation": "Install libpam-pwquality and set `minlen = 12` (or more) in /etc/security/pwquality.conf, or `minlen=12` on the pam_pwquality line.",
}

not_applicable := "no PAM configuration and no login.defs" if {
	not input.pam.present
	not input.login_defs.present
}

failures contains "no minimum password length is set (pam_pwquality minlen or login.defs PASS_MIN_LEN)" if {
	input.pam.password_min_length == null
}

failures contains sprintf("minimum length %d (%s)", [n, input.pam.password_min_length_source]) if {
	n := input.pam.password_min_length
	n != null
	n < 12
}
