// Package crc is the checksum of the eventlog format: CRC-32C (Castagnoli),
// which modern CPUs compute in hardware. It is part of the on-disk format.
package crc

import "hash/crc32"

var table = crc32.MakeTable(crc32.Castagnoli)

// CRC is a running CRC-32C.
type CRC uint32

// New returns the CRC-32C of b.
func New(b []byte) CRC { return CRC(crc32.Checksum(b, table)) }

// Update returns the CRC of the bytes already summed followed by b.
func (c CRC) Update(b []byte) CRC { return CRC(crc32.Update(uint32(c), table, b)) }

// Value returns the checksum as stored on disk.
func (c CRC) Value() uint32 { return uint32(c) }
