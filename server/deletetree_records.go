package server

import (
	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/node"
)

// deleteRecords builds delete_tree's reply with nchain, as DistKV's: {state: start}, one record
// per deleted entry {path, depth, node, tick, prev?, old_value, tock} (path shortened as in
// get_tree; node, tick and prev are the deletion's chain cut to nchain links), then
// {state: end}. It goes out as one piece once every chunk is durable; like DistKV's, these
// messages carry no wseq. A nil *deleteRecords records nothing.
type deleteRecords struct {
	seq    uint64
	nchain int
	sh     shortener
	body   []byte
}

func (d *deleteRecords) add(r node.Result, tock uint64) {
	if d == nil || len(r.Entry.Chain) == 0 {
		return
	}
	full := r.Entry.Chain
	c, cut := full[:min(d.nchain, len(full))], len(full) > d.nchain
	m := d.sh.path(clientproto.NewMsg(d.seq), r.Entry.Path).
		Str("node", c[0].Origin).Uint("tick", c[0].Tick)
	if !(len(c) == 1 && cut) {
		m.Key("prev").AppendRaw(clientproto.AppendChainCut(nil, c[1:], cut))
	}
	if r.HadPrev {
		m.Raw("old_value", r.Prev)
	}
	d.body = append(d.body, m.Uint("tock", tock).Bytes()...)
}

// reply frames the records, and err if the deletion failed part way, between start and end.
func (d *deleteRecords) reply(err error, tock uint64) []byte {
	b := clientproto.NewMsg(d.seq).Str("state", clientproto.StateStart).Bytes()
	b = append(b, d.body...)
	if err != nil {
		b = append(b, errReply(d.seq, err, tock)...)
	}
	return append(b, clientproto.NewMsg(d.seq).Str("state", clientproto.StateEnd).Bytes()...)
}
