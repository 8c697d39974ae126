# Helpers shared by the built-in rules (not a rule: not under stamp.rules).
package stamp.lib

# Every place sshd settings apply: the effective global settings and each Match block.
sshd_scopes contains {"where": "global", "settings": input.sshd.settings}

sshd_scopes contains scope if {
	some block in input.sshd.matches
	scope := {
		"where": sprintf("Match %s (%s:%d)", [block.criteria, block.file, block.line]),
		"settings": block.settings,
	}
}

# A string of decimal digits (to_number fails on anything else, so test this first).
is_integer(text) if {
	is_string(text)
	text != ""
	trim(text, "0123456789") == ""
}
