package main

import (
	"crypto/tls"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/urfave/cli/v2"
)

// clientTLSFlags are the TLS flags of every command that dials a server. Any of them turns TLS on.
func clientTLSFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tls-ca", EnvVars: []string{"DISTKV_TLS_CA"}, Usage: "speak TLS, verifying the server with the CA certificates in `FILE` (PEM; default: the system's)"},
		&cli.StringFlag{Name: "tls-cert", EnvVars: []string{"DISTKV_TLS_CERT"}, Usage: "speak TLS, presenting the client certificate in `FILE` (PEM; needs --tls-key)"},
		&cli.StringFlag{Name: "tls-key", EnvVars: []string{"DISTKV_TLS_KEY"}, Usage: "the private key of --tls-cert, in `FILE` (PEM)"},
		&cli.StringFlag{Name: "tls-server-name", EnvVars: []string{"DISTKV_TLS_SERVER_NAME"}, Usage: "speak TLS, checking the server's certificate for `NAME` (default: the host of --addr)"},
	}
}

// clientTLS returns the TLS configuration the flags ask for, or nil for plaintext.
func clientTLS(c *cli.Context) (*tls.Config, error) {
	ca, cert, key, name := c.String("tls-ca"), c.String("tls-cert"), c.String("tls-key"), c.String("tls-server-name")
	if ca == "" && cert == "" && key == "" && name == "" {
		return nil, nil
	}
	tc, err := client.TLSFiles(ca, cert, key, name)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return tc, nil
}

// dialOptions turns a TLS configuration (nil: plaintext) into Dial's options.
func dialOptions(tc *tls.Config) []client.Option {
	if tc == nil {
		return nil
	}
	return []client.Option{client.WithTLS(tc)}
}
