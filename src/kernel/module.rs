//! Loadable modules that register hotplug states: their lifecycle and what
//! their callbacks do.
//!
//! Stands for `kernel/module/` from the hotplug side: a module is loaded or
//! not, owns the callbacks it registers, and its text is gone once it is
//! unloaded. Its init ([`insmod`]) registers each declared state and adds
//! its instances, unwinding on failure; its exit ([`rmmod`]) removes them,
//! newest first; its code may also call [`setup`], [`remove`],
//! [`add_instance`] and [`remove_instance`] (the `cpuhp_setup_state*`,
//! `cpuhp_remove_state*` and `cpuhp_state_*_instance*` calls) on their own.
//! A callback is described by its effects: allocate or free per-CPU data,
//! take a lock, sleep, take `cpus_read_lock`, or fail (always, on one CPU,
//! or on the Nth call). Left out: symbol resolution, refcounts and
//! `try_module_get`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::errno::ENOENT;
use crate::kernel::trace::SplatKind;
use crate::sim::lock::{LockId, LockKind, Mode};

use super::Kernel;
use super::cpu::{Cb, CbBody, InstId, Instance};
use super::cpuhotplug::State;

/// One thing a callback does, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Allocate this callback's per-CPU data (per instance).
    Alloc,
    /// Free it.
    Free,
    /// `mutex_lock(&NAME); mutex_unlock(&NAME);` on a mutex of the module.
    Lock(String),
    /// `msleep()`: may sleep.
    Sleep,
    /// `cpus_read_lock(); cpus_read_unlock();`.
    CpusReadLock,
}

/// When a callback returns an error instead of doing its work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailRule {
    pub errno: i32,
    pub on_cpu: Option<usize>,
    /// The Nth call of this callback (1-based), counted over the run.
    pub on_call: Option<u32>,
}

/// What one callback does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Behaviour {
    pub effects: Vec<Effect>,
    pub fail: Option<FailRule>,
}

/// A state a module declares.
#[derive(Clone, Debug)]
pub struct StateDecl {
    pub name: String,
    /// The state the module asks for: a fixed number or a dynamic base.
    pub at: State,
    pub startup: Option<Behaviour>,
    pub teardown: Option<Behaviour>,
    pub startup_fn: String,
    pub teardown_fn: String,
    pub multi: bool,
    /// Instances the default init adds.
    pub instances: Vec<String>,
}

/// A module as a case declares it.
#[derive(Clone, Debug)]
pub struct ModuleDecl {
    pub name: String,
    pub states: Vec<StateDecl>,
}

/// A module at run time.
#[derive(Clone, Debug)]
pub struct ModuleState {
    pub name: String,
    pub loaded: bool,
    pub decls: Vec<StateDecl>,
    /// The slots each declaration holds, most recent last.
    pub registered: Vec<Vec<State>>,
    /// Instances by (declaration, name).
    pub instances: BTreeMap<(usize, String), InstId>,
    /// Per-CPU data allocated by callbacks: (decl, instance, cpu).
    pub percpu: BTreeMap<(usize, Option<InstId>, usize), u32>,
    /// Calls per (decl, bringup).
    pub calls: BTreeMap<(usize, bool), u32>,
    pub locks: BTreeMap<String, LockId>,
}

impl ModuleState {
    pub fn new(decl: &ModuleDecl) -> ModuleState {
        ModuleState {
            name: decl.name.clone(),
            loaded: false,
            decls: decl.states.clone(),
            registered: vec![Vec::new(); decl.states.len()],
            instances: BTreeMap::new(),
            percpu: BTreeMap::new(),
            calls: BTreeMap::new(),
            locks: BTreeMap::new(),
        }
    }
}

impl Kernel {
    /// Runs a module callback's behaviour for `cpu` (and `inst`).
    pub(crate) async fn run_module_cb(
        &self,
        module: usize,
        decl: usize,
        bringup: bool,
        cpu: usize,
        inst: Option<InstId>,
        func: &str,
    ) -> i32 {
        let behaviour = {
            let mut s = self.s();
            let m = &mut s.modules[module];
            *m.calls.entry((decl, bringup)).or_insert(0) += 1;
            let d = &m.decls[decl];
            let b = if bringup { &d.startup } else { &d.teardown };
            b.clone().unwrap_or_default()
        };
        let call = self.s().modules[module].calls[&(decl, bringup)];
        if let Some(f) = &behaviour.fail {
            let cpu_ok = f.on_cpu.is_none_or(|c| c == cpu);
            let call_ok = f.on_call.is_none_or(|n| n == call);
            if cpu_ok && call_ok {
                return f.errno;
            }
        }
        for effect in &behaviour.effects {
            self.run_effect(module, decl, cpu, inst, func, effect).await;
        }
        0
    }

    async fn run_effect(&self, module: usize, decl: usize, cpu: usize, inst: Option<InstId>, func: &str, e: &Effect) {
        match e {
            Effect::Alloc => {
                *self.s().modules[module].percpu.entry((decl, inst, cpu)).or_insert(0) += 1;
            }
            Effect::Free => {
                let freed = {
                    let mut s = self.s();
                    let m = &mut s.modules[module];
                    match m.percpu.get_mut(&(decl, inst, cpu)) {
                        Some(n) if *n > 1 => {
                            *n -= 1;
                            true
                        }
                        Some(_) => m.percpu.remove(&(decl, inst, cpu)).is_some(),
                        None => false,
                    }
                };
                if !freed {
                    let title = format!("BUG: KASAN: double-free or invalid-free in {func}, per-CPU data of CPU{cpu}");
                    self.splat(SplatKind::Kasan, "mm/kasan/report.c:kasan_report_invalid_free", title, false);
                }
            }
            Effect::Lock(name) => {
                let lock = self.module_lock(module, name);
                self.lock(lock, Mode::Exclusive).await;
                self.unlock(lock).await;
            }
            Effect::Sleep => {
                self.might_sleep(func);
                self.yield_now().await;
            }
            Effect::CpusReadLock => self.cpus_read_lock_in_callback(func).await,
        }
    }

    fn module_lock(&self, module: usize, name: &str) -> LockId {
        let mut s = self.s();
        if let Some(&l) = s.modules[module].locks.get(name) {
            return l;
        }
        let full = format!("{}:{name}", s.modules[module].name);
        let l = s.locks.add(&full, LockKind::Mutex);
        s.modules[module].locks.insert(name.to_string(), l);
        l
    }

    /// `might_sleep()`.
    pub fn might_sleep(&self, func: &str) {
        let (ctx, comm) = {
            let s = self.s();
            (s.tasks[s.current].ctx, Kernel::comm_of(&s, s.current))
        };
        if !ctx.sleepable() {
            let title = format!(
                "BUG: sleeping function called from invalid context at {func}: in_atomic(): {}, irqs_disabled(): {}, name: {comm}",
                u8::from(ctx.preempt_count > 0),
                u8::from(ctx.irqs_disabled)
            );
            self.splat(SplatKind::SleepInAtomic, "kernel/sched/core.c:__might_sleep", title, false);
        }
    }

    /// A callback taking `cpus_read_lock()` while a hotplug operation holds it
    /// for write deadlocks: lockdep says so, and the model then blocks for real.
    async fn cpus_read_lock_in_callback(&self, func: &str) {
        let l = self.lock_ids.cpu_hotplug_lock;
        let writer = self.s().locks.locks[l].owner;
        if self.cfg.hotplug_cpu && writer.is_some() {
            let title = format!(
                "WARNING: possible recursive locking detected: {func}() takes cpus_read_lock() while cpu_hotplug_lock is held for write by the hotplug operation it runs in"
            );
            self.splat(SplatKind::Lockdep, "kernel/locking/lockdep.c:print_deadlock_bug", title, false);
        }
        self.cpus_read_lock().await;
        self.cpus_read_unlock().await;
    }
}

/// A module's init: register each declared state and add its instances. On
/// failure it unwinds what it registered, and the module stays unloaded.
pub async fn insmod(k: &Kernel, m: usize) -> i32 {
    k.s().modules[m].loaded = true;
    let decls = k.s().modules[m].decls.clone();
    for (d, decl) in decls.iter().enumerate() {
        // cpuhp_setup_state_multi() or cpuhp_setup_state().
        let mut ret = setup(k, m, d, !decl.multi, decl.multi).await;
        if ret >= 0 {
            for name in &decl.instances {
                ret = add_instance(k, m, d, name, true).await;
                if ret != 0 {
                    break;
                }
            }
        }
        if ret < 0 {
            rmmod(k, m).await;
            return ret;
        }
    }
    0
}

/// A module's exit: remove its instances and states, newest first, then
/// unload it.
pub async fn rmmod(k: &Kernel, m: usize) -> i32 {
    let decls = k.s().modules[m].decls.clone();
    for (d, decl) in decls.iter().enumerate().rev() {
        let names: Vec<String> =
            k.s().modules[m].instances.keys().filter(|(di, _)| *di == d).map(|(_, n)| n.clone()).collect();
        for name in names.iter().rev() {
            remove_instance(k, m, d, name, true).await;
        }
        while !k.s().modules[m].registered[d].is_empty() {
            // cpuhp_remove_multi_state() or cpuhp_remove_state().
            remove(k, m, d, !decl.multi).await;
        }
    }
    k.s().modules[m].loaded = false;
    0
}

/// `cpuhp_setup_state()` (`invoke`), `_nocalls()` or `_multi()` (`multi`)
/// for the module's declaration `d`.
pub async fn setup(k: &Kernel, m: usize, d: usize, invoke: bool, multi: bool) -> i32 {
    let decl = k.s().modules[m].decls[d].clone();
    let cb = |b: &Option<_>, func: &str| {
        b.as_ref().map(|_| Cb { func: Arc::from(func), body: CbBody::Module { module: m, decl: d } })
    };
    let startup = cb(&decl.startup, &decl.startup_fn);
    let teardown = cb(&decl.teardown, &decl.teardown_fn);
    let ret = k.__cpuhp_setup_state(decl.at as i32, &decl.name, invoke, startup, teardown, multi).await;
    if ret >= 0 {
        let slot = if ret > 0 { ret as u16 } else { decl.at };
        k.s().modules[m].registered[d].push(slot);
    }
    ret
}

/// Removes the declaration's most recent registration; `-ENOENT` if it has
/// none (the module never registered it, or the registration failed).
pub async fn remove(k: &Kernel, m: usize, d: usize, invoke: bool) -> i32 {
    let Some(slot) = k.s().modules[m].registered[d].pop() else {
        return -ENOENT;
    };
    k.__cpuhp_remove_state(slot as i32, invoke).await;
    0
}

/// `cpuhp_state_add_instance()` (`invoke`) or `_nocalls()`: the instance
/// `name` of declaration `d`, created on first use.
pub async fn add_instance(k: &Kernel, m: usize, d: usize, name: &str, invoke: bool) -> i32 {
    let Some(&state) = k.s().modules[m].registered[d].last() else {
        return -ENOENT;
    };
    let inst = {
        let mut s = k.s();
        match s.modules[m].instances.get(&(d, name.to_string())) {
            Some(&i) => i,
            None => {
                let no = s.cpu.instances.iter().filter(|i| i.state == state).count() as u32;
                s.cpu.instances.push(Instance { state, no, name: name.to_string(), module: Some(m) });
                let id = s.cpu.instances.len() - 1;
                s.modules[m].instances.insert((d, name.to_string()), id);
                id
            }
        }
    };
    let ret = k.__cpuhp_state_add_instance(state, inst, invoke).await;
    if ret != 0 {
        // A failed add leaves no node behind, so the module forgets it too.
        k.s().modules[m].instances.remove(&(d, name.to_string()));
    }
    ret
}

/// `cpuhp_state_remove_instance()` (`invoke`) or `_nocalls()`.
pub async fn remove_instance(k: &Kernel, m: usize, d: usize, name: &str, invoke: bool) -> i32 {
    let Some(&state) = k.s().modules[m].registered[d].last() else {
        return -ENOENT;
    };
    let inst = k.s().modules[m].instances.get(&(d, name.to_string())).copied();
    let Some(inst) = inst else { return -ENOENT };
    let ret = k.__cpuhp_state_remove_instance(state, inst, invoke).await;
    if ret == 0 {
        k.s().modules[m].instances.remove(&(d, name.to_string()));
    }
    ret
}

/// A module's call into cpuhp while it is not loaded: the call stands for
/// the module's own code, which is not there.
pub fn not_loaded(k: &Kernel, m: usize) -> i32 {
    let name = k.s().modules[m].name.clone();
    k.note(format!("module {name} is not loaded: its code cannot call into cpuhp"));
    -ENOENT
}
