package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// checksum summarizes a table's rows independently of their order: the
// number of rows and the sum, lane by lane, of the SHA-256 digests of their
// canonical encodings (a multiset hash). Databases sort some values
// differently and a history's ids differ between them, so an order-free
// sum is what both sides of a copy can compute alike.
type checksum struct {
	rows  int64
	lanes [4]uint64
}

// add adds one row's canonical encoding.
func (c *checksum) add(canon []byte) {
	sum := sha256.Sum256(canon)
	for i := range c.lanes {
		c.lanes[i] += binary.BigEndian.Uint64(sum[8*i:])
	}
	c.rows++
}

// String returns the sum in hex.
func (c checksum) String() string {
	var b [32]byte
	for i, l := range c.lanes {
		binary.BigEndian.PutUint64(b[8*i:], l)
	}
	return hex.EncodeToString(b[:])
}

// canon builds canonical encodings: each field length-prefixed, so that no
// two different rows encode alike.
type canon []byte

func (c canon) str(s string) canon {
	c = binary.AppendUvarint(c, uint64(len(s)))
	return append(c, s...)
}

func (c canon) bytes(b []byte) canon {
	c = binary.AppendUvarint(c, uint64(len(b)))
	return append(c, b...)
}

func (c canon) int(n int64) canon {
	return binary.AppendVarint(c, n)
}
