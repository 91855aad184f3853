//go:build !unix

package main

import "os/exec"

// credential is a user to run a process as; processes run as the test's
// user outside Unix.
type credential struct{}

func setCredential(*exec.Cmd, *credential) {}
