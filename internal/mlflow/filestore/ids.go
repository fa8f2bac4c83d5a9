package filestore

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// IDGenerator supplies run ids, experiment ids and the names given to runs
// created without one. The default draws from crypto/rand; tests inject a
// deterministic one to compare whole stores with golden trees.
type IDGenerator interface {
	// NewRunID returns 32 lowercase hex characters (uuid4().hex in MLflow).
	NewRunID() string
	// NewExperimentID returns a decimal id (MLflow: 18 digits, no leading 0).
	NewExperimentID() string
	// NewRunName returns a name like "bold-fox-42".
	NewRunName() string
}

// MLflow's id checks (mlflow/utils/validation.py), restricted to ASCII: an id
// is a single path segment, so neither can name anything outside the store.
var (
	runIDPattern        = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,255}$`)
	experimentIDPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$`)
)

// RandomIDs is the default IDGenerator, shaped like MLflow's ids.
type RandomIDs struct{}

// NewRunID returns a version-4 UUID in hex, as uuid.uuid4().hex.
func (RandomIDs) NewRunID() string {
	return uuid4Hex(randomBytes16())
}

// NewExperimentID follows _generate_unique_integer_id: the last 18 decimal
// digits of a random UUID's integer, leading zeros replaced by random digits
// at the end so the id keeps 18 digits.
func (RandomIDs) NewExperimentID() string {
	return experimentIDFrom(randomBytes16(), func() int { return int(randomUint64() % 10) })
}

// NewRunName returns "<adjective>-<noun>-<0..1000>", the shape of MLflow's
// generated run names.
func (RandomIDs) NewRunName() string {
	return runNameFrom(randomUint64())
}

func uuid4Hex(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return hex.EncodeToString(b[:])
}

func experimentIDFrom(b [16]byte, digit func() int) string {
	s := new(big.Int).SetBytes(b[:]).String()
	if len(s) > 18 {
		s = s[len(s)-18:]
	}
	trimmed := strings.TrimLeft(s, "0")
	for i := len(trimmed); i < len(s); i++ {
		trimmed += fmt.Sprint(digit())
	}
	if strings.TrimLeft(trimmed, "0") == "" {
		return "1"
	}
	return strings.TrimLeft(trimmed, "0")
}

var (
	nameAdjectives = []string{
		"amber", "bold", "brisk", "calm", "clever", "crisp", "daring", "eager",
		"gentle", "glad", "keen", "lively", "mellow", "nimble", "quiet", "rapid",
		"serene", "steady", "swift", "vivid", "warm", "wise", "witty", "zesty",
	}
	nameNouns = []string{
		"badger", "bison", "crane", "dingo", "eagle", "falcon", "gecko", "heron",
		"ibis", "jackal", "koala", "lemur", "marten", "narwhal", "otter", "puffin",
		"quokka", "raven", "salmon", "tapir", "urchin", "walrus", "yak", "zebu",
	}
)

func runNameFrom(r uint64) string {
	adj := nameAdjectives[r%uint64(len(nameAdjectives))]
	r /= uint64(len(nameAdjectives))
	noun := nameNouns[r%uint64(len(nameNouns))]
	r /= uint64(len(nameNouns))
	return fmt.Sprintf("%s-%s-%d", adj, noun, r%1001)
}

func randomBytes16() [16]byte {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand.Read never fails on supported platforms (Go 1.24+ crashes
		// the program instead of returning an error).
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return b
}

func randomUint64() uint64 {
	b := randomBytes16()
	return binary.LittleEndian.Uint64(b[:8])
}
