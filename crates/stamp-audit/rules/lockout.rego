package stamp.rules.lockout

metadata := {
	"code": "PCI-8.3.4-LOCKOUT",
	"title": "Accounts lock after at most 10 failed logins for at least 30 minutes",
	"severity": "medium",
	"pci": ["8.3.4"],
	"remediation": "Add pam_faillock to the auth stack (`pam-auth-update --enable faillock` or common-auth) with `deny = 10` (or fewer) and `unlock_time = 1800` (or more, or 0 for an administrator unlock) in /etc/security/faillock.conf.",
}

not_applicable := "no PAM configuration" if not input.pam.present

failures contains "pam_faillock is not in an auth stack" if not input.pam.faillock.used

failures contains "deny is not set" if {
	input.pam.faillock.used
	input.pam.faillock.deny == null
}

failures contains sprintf("deny = %d (more than 10 tries, or 0: never locks)", [n]) if {
	n := input.pam.faillock.deny
	n != null
	not deny_ok(n)
}

deny_ok(n) if {
	n > 0
	n <= 10
}

failures contains "unlock_time is not set" if {
	input.pam.faillock.used
	input.pam.faillock.unlock_time == null
}

failures contains sprintf("unlock_time = %d seconds (less than 1800)", [n]) if {
	n := input.pam.faillock.unlock_time
	n != null
	n != 0
	n < 1800
}
