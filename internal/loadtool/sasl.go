package loadtool

import "roost/sasl"

// SASL mechanisms the tool speaks, through package sasl's client.
const (
	MechSCRAMSHA1   = sasl.SCRAMSHA1
	MechSCRAMSHA256 = sasl.SCRAMSHA256
	MechPlain       = sasl.Plain
)
