/**
 * A generated Cargo workspace for the warm/cold build benchmark (bench/runtime.bench.ts): `crates` library
 * crates with path dependencies on the two before them, each with `modules` modules of generic code that
 * the crate instantiates with several concrete types (so rustc has real type checking, monomorphization
 * and code generation to do), and a small binary at the top. No registry dependencies: it builds offline.
 */

const moduleSource = (c: number, m: number, deps: readonly number[]): string => {
  const T = `Acc${c}x${m}`;
  const K = `Key${c}x${m}`;
  const depUse = deps
    .map((d) => `        total = total.wrapping_add(crate${d}::m${m % 4}::run(seed ^ ${c * 100 + m}));\n        let mut other = crate${d}::m${m % 4}::Acc${d}x${m % 4}::<${K}>::new();\n        for i in 0..8u32 {\n            other.push(&format!("dep{i}"), ${K} { a: i, b: format!("{i}") });\n        }\n        total = total.wrapping_add(other.top(3).len() as u64);`)
    .join('\n');
  const depImpls = deps.map((d) => `    impl crate${d}::m${m % 4}::Score for ${K} {\n        fn score(&self) -> f64 {\n            self.a as f64 * 2.0 + self.b.len() as f64\n        }\n    }\n`).join('');
  return `pub mod m${m} {
    use std::collections::{BTreeMap, HashMap};
    use std::fmt::Debug;

    /// A keyed accumulator, generic over the value type.
    #[derive(Debug, Clone, Default)]
    pub struct ${T}<V> {
        items: Vec<V>,
        index: BTreeMap<String, usize>,
        counts: HashMap<String, u32>,
    }

    #[derive(Debug, Clone, PartialEq, PartialOrd, Default)]
    pub struct ${K} {
        pub a: u32,
        pub b: String,
    }

    pub trait Score {
        fn score(&self) -> f64;
    }
    impl Score for u64 {
        fn score(&self) -> f64 {
            (*self % 1000) as f64
        }
    }
    impl Score for String {
        fn score(&self) -> f64 {
            self.len() as f64 + self.bytes().map(|b| b as f64).sum::<f64>() / 100.0
        }
    }
    impl Score for (u32, f64) {
        fn score(&self) -> f64 {
            self.0 as f64 * self.1
        }
    }
    impl Score for ${K} {
        fn score(&self) -> f64 {
            self.a as f64 + self.b.len() as f64
        }
    }

${depImpls}
    impl<V: Clone + Debug + PartialOrd + Score> ${T}<V> {
        pub fn new() -> Self {
            Self { items: Vec::new(), index: BTreeMap::new(), counts: HashMap::new() }
        }
        pub fn push(&mut self, key: &str, v: V) {
            *self.counts.entry(key.to_string()).or_insert(0) += 1;
            match self.index.get(key) {
                Some(&i) => self.items[i] = v,
                None => {
                    self.index.insert(key.to_string(), self.items.len());
                    self.items.push(v);
                }
            }
        }
        pub fn get(&self, key: &str) -> Option<&V> {
            self.index.get(key).map(|&i| &self.items[i])
        }
        pub fn top(&self, n: usize) -> Vec<V> {
            let mut v = self.items.clone();
            v.sort_by(|a, b| b.score().partial_cmp(&a.score()).unwrap_or(std::cmp::Ordering::Equal));
            v.truncate(n);
            v
        }
        pub fn fold<U, F: Fn(U, &V) -> U>(&self, init: U, f: F) -> U {
            self.items.iter().fold(init, f)
        }
        pub fn partition<F: Fn(&V) -> bool>(&self, f: F) -> (Vec<V>, Vec<V>) {
            self.items.iter().cloned().partition(|v| f(v))
        }
        pub fn histogram(&self, buckets: usize) -> Vec<usize> {
            let mut h = vec![0; buckets.max(1)];
            let max = self.items.iter().map(|v| v.score()).fold(1.0f64, f64::max);
            for v in &self.items {
                let last = h.len() - 1;
                let i = ((v.score() / max) * last as f64) as usize;
                h[i.min(last)] += 1;
            }
            h
        }
        pub fn describe(&self) -> String {
            let mut keys: Vec<_> = self.counts.iter().collect();
            keys.sort();
            keys.iter().map(|(k, c)| format!("{k}={c}")).collect::<Vec<_>>().join(",")
        }
    }

    pub fn pipeline<V, I>(input: I) -> ${T}<V>
    where
        V: Clone + Debug + PartialOrd + Score,
        I: IntoIterator<Item = (String, V)>,
    {
        let mut acc = ${T}::new();
        for (k, v) in input {
            acc.push(&k, v);
        }
        acc
    }

    pub fn run(seed: u64) -> u64 {
        let nums = pipeline((0..64u64).map(|i| (format!("n{}", i % 17), i.wrapping_mul(seed | 1))));
        let words = pipeline((0..32u64).map(|i| (format!("w{}", i % 7), format!("{:x}", i ^ seed))));
        let pairs = pipeline((0..16u32).map(|i| (format!("p{i}"), (i, seed as f64 / (i + 1) as f64))));
        let keys = pipeline((0..16u32).map(|i| (format!("k{}", i % 5), ${K} { a: i, b: "x".repeat(i as usize) })));
        let mut total = nums.fold(0u64, |a, v| a.wrapping_add(*v));
        total = total.wrapping_add(words.top(3).iter().map(|w| w.len() as u64).sum::<u64>());
        total = total.wrapping_add(pairs.histogram(4).iter().sum::<usize>() as u64);
        total = total.wrapping_add(keys.partition(|k| k.a % 2 == 0).0.len() as u64);
        total = total.wrapping_add(nums.describe().len() as u64 + words.get("w1").map(|w| w.len() as u64).unwrap_or(0));
${depUse}
        total
    }
}
`;
};

/** The workspace's files: path → contents. */
export function cargoWorkspace(crates = 8, modules = 6): Record<string, string> {
  const files: Record<string, string> = {};
  const members: string[] = [];
  for (let c = 0; c < crates; c++) {
    const deps = [c - 1, c - 2].filter((d) => d >= 0);
    members.push(`"crate${c}"`);
    files[`crate${c}/Cargo.toml`] = `[package]\nname = "crate${c}"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n${deps.map((d) => `crate${d} = { path = "../crate${d}" }\n`).join('')}`;
    const mods = Array.from({ length: modules }, (_, m) => moduleSource(c, m, deps)).join('\n');
    const runAll = Array.from({ length: modules }, (_, m) => `    t = t.wrapping_add(m${m}::run(seed.wrapping_add(${m})));`).join('\n');
    files[`crate${c}/src/lib.rs`] = `//! Generated benchmark crate ${c}.\n#![allow(clippy::all)]\n\n${mods}\npub fn run_all(seed: u64) -> u64 {\n    let mut t = 0u64;\n${runAll}\n    t\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn runs() {\n        assert!(super::run_all(7) > 0);\n    }\n}\n`;
  }
  members.push('"app"');
  const top = crates - 1;
  files['app/Cargo.toml'] = `[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\ncrate${top} = { path = "../crate${top}" }\n`;
  files['app/src/main.rs'] = `fn main() {\n    println!("{}", crate${top}::run_all(42));\n}\n`;
  files['Cargo.toml'] = `[workspace]\nresolver = "2"\nmembers = [${members.join(', ')}]\n`;
  return files;
}
