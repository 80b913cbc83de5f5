package upstream

// Options returns the options in use, defaults filled in.
func (t *Transport) Options() Options { return t.cur.Load().opts }
