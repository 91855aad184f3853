package mysql

import (
	"slices"
	"testing"
)

func TestParseInnodbStatus(t *testing.T) {
	out := `
=====================================
2026-12-07 01:20:00 0x7f INNODB MONITOR OUTPUT
=====================================
------------
TRANSACTIONS
------------
Trx id counter 7714
Purge done for trx's n:o < 7700 undo n:o < 0 state: running
History list length 3
LIST OF TRANSACTIONS FOR EACH SESSION:
---TRANSACTION 421657483, not started
0 lock struct(s), heap size 1128, 0 row lock(s)
---TRANSACTION 7703, ACTIVE 3 sec
2 lock struct(s), heap size 1128, 1 row lock(s), undo log entries 6
---TRANSACTION 7710, ACTIVE (PREPARED) 0 sec
---TRANSACTION 421657999, ACTIVE 12 sec
--------
FILE I/O
--------
----------------------------
END OF INNODB MONITOR OUTPUT
============================
`
	st := parseInnodbStatus(out)
	if st.counter != 7714 || !slices.Equal(st.active, []int64{7703, 7710, 421657999}) || !st.complete {
		t.Fatalf("parsed %+v", st)
	}
	if st := parseInnodbStatus(out[:len(out)/2]); st.complete {
		t.Fatalf("a cut output parsed as complete: %+v", st)
	}
}
