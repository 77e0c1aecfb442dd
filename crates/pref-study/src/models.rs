//! The models of a run: one loaded model per distinct [`ModelSpec`], every one
//! behind the same content-addressed cache, with call counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use pref_llm::{CacheStats, CachedModel, LanguageModel, ModelCache, ModelSpec};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A model behind the shared cache (every study calls models through this type).
pub type Model = CachedModel<Box<dyn LanguageModel>>;

/// Calls made (reached the backend) and served from the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calls {
    /// Calls that reached the backend.
    pub made: u64,
    /// Calls the cache answered.
    pub cached: u64,
}

impl Calls {
    fn of(s: CacheStats) -> Self {
        Self {
            made: s.made,
            cached: s.cached,
        }
    }

    /// `self − before`, field by field.
    pub fn since(self, before: Calls) -> Calls {
        Calls {
            made: self.made - before.made,
            cached: self.cached - before.cached,
        }
    }

    /// Field-wise sum.
    pub fn add(&mut self, other: Calls) {
        self.made += other.made;
        self.cached += other.cached;
    }
}

/// The registry of a run's models: [`Models::load`] loads a spec once and hands
/// out the same model for every role that names it (e.g. two authors that are
/// variants of one model share its weights and its cache entries).
pub struct Models {
    cache: Arc<ModelCache>,
    by_spec: HashMap<ModelSpec, Arc<Model>>,
    /// Load order, so reports list models deterministically.
    order: Vec<ModelSpec>,
}

impl Models {
    /// An empty registry over `cache`.
    pub fn new(cache: Arc<ModelCache>) -> Self {
        Self {
            cache,
            by_spec: HashMap::new(),
            order: Vec::new(),
        }
    }

    /// An empty registry over the default cache (`$PREF_HOME/cache`, or
    /// `PREF_CACHE_DIR`).
    pub fn open_default() -> Result<Self> {
        Ok(Self::new(Arc::new(ModelCache::open_default()?)))
    }

    /// The shared cache.
    pub fn cache(&self) -> &Arc<ModelCache> {
        &self.cache
    }

    /// The model of `spec`, loaded on first use.
    pub fn load(&mut self, spec: &ModelSpec) -> Result<Arc<Model>> {
        if let Some(m) = self.by_spec.get(spec) {
            return Ok(m.clone());
        }
        let lm = Arc::new(CachedModel::new(
            spec.load_for(&self.cache)?,
            self.cache.clone(),
        ));
        self.by_spec.insert(spec.clone(), lm.clone());
        self.order.push(spec.clone());
        Ok(lm)
    }

    /// Adds an already built model under `spec` (tests, custom backends).
    pub fn insert(&mut self, spec: ModelSpec, model: Box<dyn LanguageModel>) -> Arc<Model> {
        let lm = Arc::new(CachedModel::new(model, self.cache.clone()));
        if self.by_spec.insert(spec.clone(), lm.clone()).is_none() {
            self.order.push(spec);
        }
        lm
    }

    /// The loaded model of `spec`.
    pub fn get(&self, spec: &ModelSpec) -> Option<&Arc<Model>> {
        self.by_spec.get(spec)
    }

    /// The loaded models in load order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Model>> {
        self.order.iter().map(|s| &self.by_spec[s])
    }

    /// Calls so far per model, keyed by the model's content id.
    pub fn calls_by_model(&self) -> BTreeMap<String, Calls> {
        let mut out: BTreeMap<String, Calls> = BTreeMap::new();
        for m in self.iter() {
            out.entry(m.id().to_string())
                .or_default()
                .add(Calls::of(m.stats()));
        }
        out
    }

    /// Calls so far over every model.
    pub fn calls(&self) -> Calls {
        let mut total = Calls::default();
        for c in self.calls_by_model().into_values() {
            total.add(c);
        }
        total
    }
}
