package stamp.rules.sshd_weak_crypto

import data.stamp.lib

metadata := {
	"code": "PCI-2.2.7-SSH-WEAK-CRYPTO",
	"title": "sshd: no weak ciphers, MACs or key exchange algorithms",
	"severity": "high",
	"pci": ["2.2.7", "4.2.1"],
	"remediation": "Remove CBC, arcfour, 3DES ciphers, MD5/SHA-1/64-bit MACs and SHA-1 key exchanges from Ciphers, MACs and KexAlgorithms (or leave them unset for OpenSSH's defaults).",
}

weak := {
	"ciphers": {
		"3des-cbc", "aes128-cbc", "aes192-cbc", "aes256-cbc", "arcfour", "arcfour128",
		"arcfour256", "blowfish-cbc", "cast128-cbc", "rijndael-cbc@lysator.liu.se", "none",
	},
	"macs": {
		"hmac-md5", "hmac-md5-96", "hmac-md5-etm@openssh.com", "hmac-md5-96-etm@openssh.com",
		"hmac-sha1", "hmac-sha1-96", "hmac-sha1-etm@openssh.com", "hmac-sha1-96-etm@openssh.com",
		"umac-64@openssh.com", "umac-64-etm@openssh.com", "hmac-ripemd160",
		"hmac-ripemd160@openssh.com", "hmac-ripemd160-etm@openssh.com",
	},
	"kexalgorithms": {
		"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1",
		"diffie-hellman-group-exchange-sha1", "gss-gex-sha1-", "gss-group1-sha1-",
		"gss-group14-sha1-",
	},
}

not_applicable := "sshd is not installed" if not input.sshd.present

failures contains sprintf("%s %s (%s)", [keyword, algorithm, scope.where]) if {
	some scope in lib.sshd_scopes
	some keyword, names in weak
	value := scope.settings[keyword]
	not startswith(value, "-")
	some algorithm in split(trim_left(value, "+^"), ",")
	lower(algorithm) in names
}
