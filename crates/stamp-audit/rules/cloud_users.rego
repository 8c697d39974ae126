package stamp.rules.cloud_users

metadata := {
	"code": "PCI-2.2.2-CLOUD-DEFAULT-USER",
	"title": "No enabled cloud or vendor default user",
	"severity": "high",
	"pci": ["2.2.2"],
	"remediation": "Remove the vendor default account (`userdel NAME`) or lock it and set its shell to nologin; create named accounts instead.",
}

defaults := {
	"ec2-user", "ubuntu", "admin", "centos", "azureuser", "debian", "fedora",
	"cloud-user", "opc", "core", "vagrant", "pi", "rocky", "almalinux", "alpine",
	"bitnami", "oracle", "rhel", "suse", "ec2", "gce", "user",
}

not_applicable := "no /etc/passwd" if not input.accounts.present

failures contains sprintf("%s (uid %d): login shell %s", [user.name, user.uid, user.shell]) if {
	some user in input.accounts.users
	user.name in defaults
	user.login_shell
}

failures contains sprintf("%s (uid %d): password %s", [user.name, user.uid, user.password]) if {
	some user in input.accounts.users
	user.name in defaults
	user.password in {"usable", "empty"}
}
