package server

import "github.com/distkv/distkv/gossip"

// DeliverUserEvent hands a serf user event to the node as if gossip had delivered it.
func (s *Server) DeliverUserEvent(name string, payload []byte) {
	s.cluster.onEvent(gossip.UserEvent{Name: name, Payload: payload})
}
