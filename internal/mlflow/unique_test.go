package mlflow

import (
	"slices"
	"testing"
)

func TestUniqueTags(t *testing.T) {
	tests := []struct {
		name string
		in   []Tag
		want []Tag
	}{
		{"empty", nil, nil},
		{"one", []Tag{{"a", "1"}}, []Tag{{"a", "1"}}},
		{"no repeats kept in order", []Tag{{"b", "1"}, {"a", "2"}}, []Tag{{"b", "1"}, {"a", "2"}}},
		{"same value twice", []Tag{{"host.name", "n1"}, {"host.name", "n1"}}, []Tag{{"host.name", "n1"}}},
		{"last value wins at first position", []Tag{{"a", "1"}, {"b", "x"}, {"a", "2"}, {"a", "3"}}, []Tag{{"a", "3"}, {"b", "x"}}},
		{"several keys repeated", []Tag{{"a", "1"}, {"b", "1"}, {"b", "2"}, {"c", "1"}, {"a", "9"}}, []Tag{{"a", "9"}, {"b", "2"}, {"c", "1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			got := UniqueTags(in)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("UniqueTags(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Fatalf("input modified: %v", in)
			}
		})
	}
}

func TestUniqueParams(t *testing.T) {
	tests := []struct {
		name string
		in   []Param
		want []Param
	}{
		{"empty", nil, nil},
		{"exact repeat dropped", []Param{{"lr", "0.1"}, {"bs", "8"}, {"lr", "0.1"}}, []Param{{"lr", "0.1"}, {"bs", "8"}}},
		{"conflict kept for the caller", []Param{{"lr", "0.1"}, {"lr", "0.2"}}, []Param{{"lr", "0.1"}, {"lr", "0.2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UniqueParams(slices.Clone(tt.in)); !slices.Equal(got, tt.want) {
				t.Fatalf("UniqueParams(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
