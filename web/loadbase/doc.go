// Package loadbase is the baseline receiver that cmd/fbload measures
// Firebreak against: a gin router with one route, POST /hooks/:source, that
// decodes the JSON body into a generic value (the least any receiver must
// do), optionally hands the body to a durability function, and answers 202
// with the number of events in it.
//
// It lives under web because web owns every gin route of the module; it
// shares nothing with Firebreak's receivers on purpose, so the baseline
// stays the bare minimum. It must not grow authentication, normalisation
// or storage: those are what the comparison measures.
package loadbase
