package stamp.rules.password_hashing

metadata := {
	"code": "PCI-8.3.2-PASSWORD-HASHING",
	"title": "Passwords are hashed with SHA-512 or yescrypt",
	"severity": "high",
	"pci": ["8.3.2"],
	"remediation": "Use `yescrypt` or `sha512` on the pam_unix password line and `ENCRYPT_METHOD YESCRYPT` (or SHA512) in /etc/login.defs; reset passwords hashed with a weaker scheme.",
}

strong := {"yescrypt", "gost_yescrypt", "sha512"}

not_applicable := "no PAM configuration, no login.defs and no password hashes" if {
	not input.pam.present
	not input.login_defs.present
	not usable_password
}

usable_password if {
	some user in input.accounts.users
	user.password == "usable"
}

encrypt_method := lower(input.login_defs.settings.ENCRYPT_METHOD)

failures contains "neither pam_unix nor login.defs ENCRYPT_METHOD names a hashing method" if {
	input.pam.pam_unix_hash == null
	not input.login_defs.settings.ENCRYPT_METHOD
}

failures contains sprintf("pam_unix hashes new passwords with %s", [input.pam.pam_unix_hash]) if {
	input.pam.pam_unix_hash != null
	not input.pam.pam_unix_hash in strong
}

failures contains sprintf("login.defs ENCRYPT_METHOD %s", [input.login_defs.settings.ENCRYPT_METHOD]) if {
	encrypt_method
	not encrypt_method in strong
}

failures contains sprintf("%s: password hashed with %s", [user.name, user.hash_scheme]) if {
	some user in input.accounts.users
	user.password == "usable"
	not user.hash_scheme in strong
}
