// Command porcupine-check checks a register history in faultline's plain JSON Lines format
// (docs/checkers.md, "Plain register history format") with Porcupine's checker, so the two
// checkers can be timed on the same files (issue 17). It is a benchmark harness: it is not
// built by the test suite, and Porcupine's source is not part of this repository — see
// run.sh beside this file.
//
// Conversion, matching faultline's reading of the format: a process runs one op at a time
// and its next event completes it; `fail` ops are dropped; a crashed (`info`, or never
// completed) write or cas returns at +inf (it may take effect any time after its invoke, or
// never, which Porcupine's closed intervals allow by linearizing it last); a crashed read is
// dropped. Call and return times are the events' line numbers, so two ops overlap exactly
// when faultline's event order says they do. The initial value is nil; ops are partitioned
// by `key` (absent = one register), as faultline's key-value model does.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
)

type event struct {
	Process json.RawMessage `json:"process"`
	Type    string          `json:"type"`
	F       string          `json:"f"`
	Value   json.RawMessage `json:"value"`
	Key     json.RawMessage `json:"key"`
}

const nilValue = math.MinInt64

type input struct {
	op   byte // 'r', 'w', 'c'
	key  string
	a, b int64
}

type output struct {
	known bool
	value int64 // a read's value
	ok    bool  // a cas's outcome
}

func scalar(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nilValue, nil
	}
	return strconv.ParseInt(string(raw), 10, 64)
}

func pair(raw json.RawMessage) (int64, int64, error) {
	var v [2]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, 0, err
	}
	a, err := scalar(v[0])
	if err != nil {
		return 0, 0, err
	}
	b, err := scalar(v[1])
	return a, b, err
}

type open struct {
	in   input
	call int64
	id   int
}

func load(path string) ([]porcupine.Operation, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 1<<26)
	pending := map[string]open{}
	clients := map[string]int{}
	var ops []porcupine.Operation
	line := int64(0)
	for scanner.Scan() {
		line++
		if len(scanner.Bytes()) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(scanner.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s: line %d: %v", path, line, err)
		}
		process := string(e.Process)
		if e.Type == "invoke" {
			in := input{key: string(e.Key)}
			switch e.F {
			case "read":
				in.op = 'r'
			case "write":
				in.op = 'w'
				if in.a, err = scalar(e.Value); err != nil {
					return nil, fmt.Errorf("line %d: %v", line, err)
				}
			case "cas":
				in.op = 'c'
				if in.a, in.b, err = pair(e.Value); err != nil {
					return nil, fmt.Errorf("line %d: %v", line, err)
				}
			default:
				return nil, fmt.Errorf("line %d: unknown f %q", line, e.F)
			}
			id, ok := clients[process]
			if !ok {
				id = len(clients)
				clients[process] = id
			}
			pending[process] = open{in: in, call: line, id: id}
			continue
		}
		inv, ok := pending[process]
		if !ok {
			return nil, fmt.Errorf("line %d: completion without invoke", line)
		}
		delete(pending, process)
		switch e.Type {
		case "fail":
		case "info":
			if inv.in.op != 'r' {
				ops = append(ops, porcupine.Operation{ClientId: inv.id, Input: inv.in, Call: inv.call,
					Output: output{}, Return: math.MaxInt64})
			}
		case "ok":
			out := output{known: true, ok: true}
			if inv.in.op == 'r' {
				if out.value, err = scalar(e.Value); err != nil {
					return nil, fmt.Errorf("line %d: %v", line, err)
				}
			}
			ops = append(ops, porcupine.Operation{ClientId: inv.id, Input: inv.in, Call: inv.call,
				Output: out, Return: line})
		default:
			return nil, fmt.Errorf("line %d: unknown type %q", line, e.Type)
		}
	}
	for _, inv := range pending {
		if inv.in.op != 'r' {
			ops = append(ops, porcupine.Operation{ClientId: inv.id, Input: inv.in, Call: inv.call,
				Output: output{}, Return: math.MaxInt64})
		}
	}
	return ops, scanner.Err()
}

// register is Knossos' cas-register, per key.
var register = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(input).key
			if _, seen := byKey[k]; !seen {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		parts := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, byKey[k])
		}
		return parts
	},
	Init: func() interface{} { return int64(nilValue) },
	Step: func(state, in, out interface{}) (bool, interface{}) {
		s, i, o := state.(int64), in.(input), out.(output)
		switch i.op {
		case 'r':
			return o.value == s, s
		case 'w':
			return true, i.a
		default: // cas: a crashed one may have done either
			if s == i.a {
				return !o.known || o.ok, i.b
			}
			return !o.known || !o.ok, s
		}
	},
	Hash: func(state interface{}) uint64 { return uint64(state.(int64)) },
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: porcupine-check HISTORY.jsonl [TIMEOUT]")
		os.Exit(2)
	}
	timeout := 120 * time.Second
	if len(os.Args) > 2 {
		d, err := time.ParseDuration(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		timeout = d
	}
	ops, err := load(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	started := time.Now()
	result := porcupine.CheckOperationsTimeout(register, ops, timeout)
	elapsed := time.Since(started)
	verdict := map[porcupine.CheckResult]string{porcupine.Ok: "valid", porcupine.Illegal: "invalid",
		porcupine.Unknown: "unknown (timeout " + timeout.String() + ")"}[result]
	fmt.Printf("porcupine: %s\n  ops: %d\n  check seconds: %.3f\n", verdict, len(ops), elapsed.Seconds())
	switch result {
	case porcupine.Ok:
	case porcupine.Illegal:
		os.Exit(1)
	default:
		os.Exit(3)
	}
}
