package stamp.rules.sshd_password_auth

import data.stamp.lib

metadata := {
	"code": "PCI-8.3.1-SSH-PASSWORD-AUTH",
	"title": "sshd: PasswordAuthentication no (keys only)",
	"severity": "medium",
	"pci": ["2.2.6", "8.3.1", "8.4.2"],
	"remediation": "Set `PasswordAuthentication no` and `KbdInteractiveAuthentication no`; log in with keys (and MFA where required).",
}

not_applicable := "sshd is not installed" if not input.sshd.present

failures contains "PasswordAuthentication yes (default)" if {
	not input.sshd.settings.passwordauthentication
}

failures contains sprintf("PasswordAuthentication %s (%s)", [value, scope.where]) if {
	some scope in lib.sshd_scopes
	value := lower(scope.settings.passwordauthentication)
	value != "no"
}
