// Package fakeclock is the clock tests inject where Firebreak takes a
// `now func() time.Time` or a clock: it stands still until the test moves
// it, so windows, budgets, breakers, expiry and staleness are tested
// without sleeping. It is for tests only: production code must not import
// it, and it imports nothing of the project.
package fakeclock
