package stamp.rules.world_writable

metadata := {
	"code": "PCI-2.2.6-WORLD-WRITABLE",
	"title": "No world-writable files or directories outside temporary directories",
	"severity": "high",
	"pci": ["2.2.6"],
	"remediation": "Remove the write bit for others (`chmod o-w PATH`); a shared writable directory needs the sticky bit (`chmod +t`) or belongs under /tmp.",
}

not_applicable := "empty filesystem" if input.filesystem.entries_walked == 0

failures contains path if some path in input.filesystem.world_writable
