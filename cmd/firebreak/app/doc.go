// Package app composes Firebreak's parts into a running server: it builds
// the store, the action registry, the playbooks, the guard, the approval
// gate, the engine and the HTTP surface (package web, which owns every
// route), and runs them. It validates nothing itself (package config does,
// before anything starts) and serves no route itself. It lives apart from
// main so that tests start the whole server in-process.
//
// It must not register a gin route, validate configuration or decide
// anything an event asks; when composing grows a rule, that rule belongs in
// the package it is about.
package app
