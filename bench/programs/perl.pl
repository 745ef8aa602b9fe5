# perl - the perl interpreter at text work: a corpus of made-up lines split
# into words, counted in a hash, matched and rewritten with regular
# expressions, sorted, joined, and freed. Perl allocates its scalars and
# hash entries in arenas of its own, and every string body, array and hash
# table from malloc, so most of the run is malloc, realloc and free of
# small and middle-sized blocks.
#
# Run by scripts/bench --programs under each allocator (/usr/bin/perl with
# the allocator through LD_PRELOAD); the size scales with BENCH_SCALE.
# Prints one line: perl, the words seen and a checksum of the results,
# which must be the same under every allocator.
use strict;
use warnings;

my $scale = $ENV{BENCH_SCALE} // 1;
my $lines = int(40000 * $scale);
$lines = 1000 if $lines < 1000;

my $seed = 12345;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed; }

my @syll = qw(ka lo mi nu pe ra si to vu ze an el in or um);
my ($words_seen, $sum) = (0, 0);
for my $round (1 .. 3) {
    my @corpus;
    for (1 .. $lines) {
        my @w;
        push @w, join('', map { $syll[rnd() % @syll] } 1 .. 1 + rnd() % 4) for 1 .. 4 + rnd() % 12;
        push @corpus, join(' ', @w) . '.';
    }
    my %count;
    for my $line (@corpus) {
        for my $w (split /\s+/, $line) {
            $w =~ s/\.$//;
            $count{$w}++;
            $words_seen++;
        }
    }
    my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 49];
    $sum += $count{$_} for @top;
    my $text = join("\n", @corpus);
    (my $rewritten = $text) =~ s/\b(ka|lo)(\w*)/\U$1\E$2/g;
    my $n = () = $rewritten =~ /\b[A-Z]{2}\w+/g;
    $sum += $n + length($rewritten) % 9973;
    my %index;
    push @{ $index{substr($_, 0, 2)} }, length $_ for @corpus;
    $sum += scalar(keys %index) + scalar(@{ $index{'ka'} // [] });
    undef %count;
    undef %index;
    @corpus = ();
}
printf "perl words=%d checksum=%d\n", $words_seen, $sum;
