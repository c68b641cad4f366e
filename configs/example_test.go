package configs_test

import (
	"errors"
	"fmt"

	"github.com/hyperlan/hyperlan/configs"
)

func ExampleParse() {
	_, err := configs.Parse("/etc/hyperlan/home.toml", []byte(`
[node]
name = "desktop"
key_file = "missing.key"
mtu = 9000

[network]
ipv4 = "10.77.0.1/16"

[[peer]]
name = "nas"
public_key = "38db4d73792d7bf3d1d9a3d2186b1f0ca025a60147a47679fefda4c76d2726e"
adress = "10.77.0.10"
`))
	var list configs.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Printf("%s\n  [%s] hint: %s\n", e, e.Class, e.Hint)
		}
	}
	// Output:
	// /etc/hyperlan/home.toml:4:12: node.key_file: key file /etc/hyperlan/missing.key: no such file
	//   [unreadable file] hint: a key file holds this machine's 32-byte seed as 64 hex digits; make one with 'hyperlan keygen --out /etc/hyperlan/missing.key'
	// /etc/hyperlan/home.toml:5:7: node.mtu: mtu 9000 is out of range
	//   [bad value] hint: the MTU must be 1280 to 1428: IPv6 needs at least 1280, and a 1500-byte UDX datagram carries at most 1428
	// /etc/hyperlan/home.toml:8:8: network.ipv4: 10.77.0.1/16 has host bits set
	//   [bad prefix] hint: did you mean 10.77.0.0/16?
	// /etc/hyperlan/home.toml:12:14: peer[0].public_key: public key is neither 64 hex digits nor 52 z-base-32 characters (it has 63)
	//   [bad public key] hint: use the public key the peer's 'hyperlan keygen' printed: 64 hex digits or 52 z-base-32 characters
	// /etc/hyperlan/home.toml:13:1: peer[0].adress: unknown key
	//   [unknown key] hint: did you mean "address"?
}
