// Package util keeps the ignore list the extender adds to.
package util

type IgnoreListEntry struct {
	Path            string
	PrefixMatchOnly bool
}

var defaultIgnoreList []IgnoreListEntry

func AddToDefaultIgnoreList(entry IgnoreListEntry) {
	defaultIgnoreList = append(defaultIgnoreList, entry)
}
