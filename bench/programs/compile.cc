// compile - the input of the `gcc` and `clang` programs of scripts/bench
// --programs: g++ -O2 and clang++ -O2 compile this file (nothing runs it).
// Template-heavy C++ of the kind that makes a compiler allocate: the
// standard containers, streams, <variant> and lambdas instantiated for
// several types. cc1plus takes its trees from its own garbage-collected
// pages (mapped) and much else from malloc: hash tables, bitmaps, obstacks,
// vectors of the optimizer's passes. LLVM allocates its IR, its analyses
// and its passes' containers from malloc (its bump allocators in slabs of
// 4 KiB and up, the rest object by object).
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace bench {

using Value = std::variant<long, double, std::string, std::vector<int>>;

template <typename K, typename V>
struct Table {
	std::map<K, V> ordered;
	std::unordered_map<K, std::vector<V>> grouped;
	void add(const K &k, const V &v)
	{
		ordered[k] = v;
		grouped[k].push_back(v);
	}
	std::optional<V> find(const K &k) const
	{
		auto it = ordered.find(k);
		if (it == ordered.end())
			return std::nullopt;
		return it->second;
	}
	template <typename F>
	size_t count_if(F f) const
	{
		return std::count_if(ordered.begin(), ordered.end(), [&](const auto &kv) { return f(kv.second); });
	}
};

std::string describe(const Value &v)
{
	return std::visit(
		[](const auto &x) -> std::string {
			using T = std::decay_t<decltype(x)>;
			std::ostringstream os;
			if constexpr (std::is_same_v<T, std::vector<int>>) {
				for (int i : x)
					os << i << ',';
			} else {
				os << x;
			}
			return os.str();
		},
		v);
}

template <typename T>
std::vector<T> sorted_unique(std::vector<T> v)
{
	std::sort(v.begin(), v.end());
	v.erase(std::unique(v.begin(), v.end()), v.end());
	return v;
}

size_t words(const std::string &text)
{
	std::istringstream in(text);
	std::map<std::string, int> seen;
	std::string w;
	while (in >> w)
		seen[w]++;
	return seen.size();
}

struct Shape {
	virtual ~Shape() = default;
	virtual double area() const = 0;
};
struct Square : Shape {
	double s;
	explicit Square(double s) : s(s) {}
	double area() const override { return s * s; }
};
struct Circle : Shape {
	double r;
	explicit Circle(double r) : r(r) {}
	double area() const override { return 3.14159 * r * r; }
};

double total_area(const std::vector<std::unique_ptr<Shape>> &shapes)
{
	double t = 0;
	for (const auto &s : shapes)
		t += s->area();
	return t;
}

} // namespace bench

int run_all()
{
	bench::Table<std::string, bench::Value> a;
	bench::Table<long, std::string> b;
	bench::Table<int, std::vector<double>> c;
	bench::Table<std::string, std::set<std::string>> d;
	a.add("x", bench::Value(1L));
	a.add("y", bench::Value(std::string("two")));
	b.add(3, "three");
	c.add(4, {4.0, 4.5});
	d.add("e", {"five", "six"});
	std::vector<std::function<size_t()>> jobs;
	jobs.push_back([&] { return a.count_if([](const bench::Value &v) { return v.index() == 0; }); });
	jobs.push_back([&] { return b.count_if([](const std::string &s) { return s.size() > 3; }); });
	jobs.push_back([&] { return c.count_if([](const std::vector<double> &v) { return !v.empty(); }); });
	jobs.push_back([&] { return d.count_if([](const std::set<std::string> &s) { return s.count("six"); }); });
	jobs.push_back([] { return bench::words("Some words and 12.5 numbers"); });
	size_t n = 0;
	for (auto &j : jobs)
		n += j();
	auto u = bench::sorted_unique(std::vector<std::string>{"b", "a", "b"});
	auto v = bench::sorted_unique(std::vector<double>{2.0, 1.0, 2.0});
	auto w = bench::sorted_unique(std::vector<long>{3, 1, 3});
	std::vector<std::unique_ptr<bench::Shape>> shapes;
	shapes.push_back(std::make_unique<bench::Square>(2));
	shapes.push_back(std::make_unique<bench::Circle>(1));
	n += u.size() + v.size() + w.size() + (size_t)bench::total_area(shapes);
	n += bench::describe(*a.find("x")).size() + bench::describe(bench::Value(std::vector<int>{1, 2})).size();
	return (int)n;
}
