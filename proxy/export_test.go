package proxy

// Template is template, for the tests.
var Template = template
