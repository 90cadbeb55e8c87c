package vcard

import (
	"testing"

	"roost/xmlstream"
)

func TestFromVCard4(t *testing.T) {
	v4, err := xmlstream.Parse([]byte(`<vcard xmlns="urn:ietf:params:xml:ns:vcard-4.0">`+
		`<fn><text>Alice Liddell</text></fn><n><surname>Liddell</surname><given>Alice</given></n>`+
		`<nickname><text>Alice</text></nickname><bday><date>1852-05-04</date></bday><note><text>curious</text></note>`+
		`<email><parameters><type><text>home</text></type></parameters><text>alice@example.org</text></email>`+
		`<tel><uri>tel:+44 1865</uri></tel><impp><uri>xmpp:alice@example.org</uri></impp>`+
		`<adr><locality>Oxford</locality><country>UK</country></adr><org><text>Christ Church</text></org>`+
		`<x-unknown><text>ignored</text></x-unknown></vcard>`), xmlstream.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got := string(xmlstream.AppendElement(nil, FromVCard4(v4, &Photo{Type: "image/png", BinVal: "iVBO"}), ""))
	want := `<vCard xmlns="vcard-temp"><FN>Alice Liddell</FN><N><FAMILY>Liddell</FAMILY><GIVEN>Alice</GIVEN></N>` +
		`<NICKNAME>Alice</NICKNAME><BDAY>1852-05-04</BDAY><DESC>curious</DESC>` +
		`<EMAIL><USERID>alice@example.org</USERID><INTERNET/><HOME/></EMAIL><TEL><NUMBER>+44 1865</NUMBER></TEL>` +
		`<JABBERID>alice@example.org</JABBERID><ADR><LOCALITY>Oxford</LOCALITY><CTRY>UK</CTRY></ADR>` +
		`<ORG><ORGNAME>Christ Church</ORGNAME></ORG><PHOTO><TYPE>image/png</TYPE><BINVAL>iVBO</BINVAL></PHOTO></vCard>`
	if got != want {
		t.Errorf("vCard:\n got %s\nwant %s", got, want)
	}
	if got := string(xmlstream.AppendElement(nil, FromVCard4(xmlstream.New(NSVCard4, "vcard"), nil), "")); got != `<vCard xmlns="vcard-temp"/>` {
		t.Errorf("empty profile: %s", got)
	}
}
