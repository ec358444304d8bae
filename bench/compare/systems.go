package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// distkvSystem talks to distkv with its Go client; keys are bench.<i>.
type distkvSystem struct{ paths []node.Path }

func newDistkv(keys int) *distkvSystem {
	s := &distkvSystem{paths: make([]node.Path, keys)}
	for i := range s.paths {
		s.paths[i] = node.StringPath("bench", strconv.Itoa(i))
	}
	return s
}

func (*distkvSystem) name() string { return "distkv" }

func (*distkvSystem) value(raw []byte) []byte { return node.AppendBinString(nil, string(raw)) }

func (s *distkvSystem) dial(ctx context.Context, addr string) (conn, error) {
	c, err := client.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("distkv %s: %w", addr, err)
	}
	return &distkvConn{s: s, c: c}, nil
}

type distkvConn struct {
	s *distkvSystem
	c *client.Client
}

func (c *distkvConn) set(ctx context.Context, k int, v []byte) error {
	_, err := c.c.Set(ctx, c.s.paths[k], v)
	return err
}

func (c *distkvConn) get(ctx context.Context, k int) error {
	_, err := c.c.Get(ctx, c.s.paths[k])
	return err
}

func (c *distkvConn) close() { c.c.Close() }

// redisSystem talks RESP with go-redis, one connection per client; keys are bench:<i>.
type redisSystem struct{ keys []string }

func newRedis(keys int) *redisSystem {
	s := &redisSystem{keys: make([]string, keys)}
	for i := range s.keys {
		s.keys[i] = "bench:" + strconv.Itoa(i)
	}
	return s
}

func (*redisSystem) name() string { return "redis" }

func (*redisSystem) value(raw []byte) []byte { return raw }

func (s *redisSystem) dial(ctx context.Context, addr string) (conn, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, MinIdleConns: 1, MaxRetries: -1,
		DisableIdentity: true, Protocol: 2})
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis %s: %w", addr, err)
	}
	return &redisConn{s: s, c: c}, nil
}

type redisConn struct {
	s *redisSystem
	c *redis.Client
}

func (c *redisConn) set(ctx context.Context, k int, v []byte) error {
	return c.c.Set(ctx, c.s.keys[k], v, 0).Err()
}

func (c *redisConn) get(ctx context.Context, k int) error {
	return c.c.Get(ctx, c.s.keys[k]).Err()
}

func (c *redisConn) close() { c.c.Close() }

// etcdSystem talks gRPC with etcd's client, one client (so one connection) per worker, bound
// to the one member it was given; keys are bench/<i>. Gets are etcd's default, linearizable.
type etcdSystem struct{ keys []string }

func newEtcd(keys int) *etcdSystem {
	s := &etcdSystem{keys: make([]string, keys)}
	for i := range s.keys {
		s.keys[i] = "bench/" + strconv.Itoa(i)
	}
	return s
}

func (*etcdSystem) name() string { return "etcd" }

func (*etcdSystem) value(raw []byte) []byte { return raw }

func (s *etcdSystem) dial(ctx context.Context, addr string) (conn, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 10 * time.Second,
		Logger: nopLogger(), Context: context.Background()})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", addr, err)
	}
	return &etcdConn{s: s, c: c}, nil
}

type etcdConn struct {
	s *etcdSystem
	c *clientv3.Client
}

func (c *etcdConn) set(ctx context.Context, k int, v []byte) error {
	_, err := c.c.Put(ctx, c.s.keys[k], string(v))
	return err
}

func (c *etcdConn) get(ctx context.Context, k int) error {
	_, err := c.c.Get(ctx, c.s.keys[k])
	return err
}

func (c *etcdConn) close() { c.c.Close() }
